// A blocking invocation that wants only the result.
'use strict'
require('./client').run(ow =>
  ow.actions.invoke({ name: 'greet', blocking: true, result: true, params: { name: 'Ada' } }))
