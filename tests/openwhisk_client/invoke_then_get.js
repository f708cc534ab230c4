// A non-blocking invocation, then its activation, logs and result once it has ended.
'use strict'
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// OpenWhisk answers 404 for an activation until it has ended; callers poll.
async function ended (ow, activationId) {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      return await ow.activations.get({ activationId })
    } catch (error) {
      if (error.statusCode !== 404) throw error
    }
    await sleep(50)
  }
  throw new Error(`activation ${activationId} did not end`)
}

require('./client').run(async ow => {
  const accepted = await ow.actions.invoke({ name: 'greet', params: { name: 'Ada' } })
  const activation = await ended(ow, accepted.activationId)
  const logs = await ow.activations.logs({ activationId: accepted.activationId })
  const result = await ow.activations.result({ activationId: accepted.activationId })
  return { accepted, activation, logs, result }
})
