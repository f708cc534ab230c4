// A non-blocking invocation, then its activation once it has ended.
'use strict'
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function ended (ow, activationId) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const activation = await ow.activations.get({ activationId })
    if (activation.end) return activation
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
