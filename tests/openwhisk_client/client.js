// The npm openwhisk client as a migrating caller builds it: fnproxy's OpenWhisk front as the
// apihost, a fnproxy client's id and secret as the API key. Each scenario script prints what
// the client answered (or the error it raised) as one JSON line for the pytest that runs it.
'use strict'

const openwhisk = require('openwhisk')

function client () {
  return openwhisk({
    apihost: process.env.OW_APIHOST,
    api_key: process.env.OW_API_KEY,
    namespace: process.env.OW_NAMESPACE || '_'
  })
}

function run (scenario) {
  scenario(client())
    .then(answer => console.log(JSON.stringify({ answer })))
    .catch(error => console.log(JSON.stringify({
      error: { message: error.message, statusCode: error.statusCode, body: error.error }
    })))
}

module.exports = { run }
