// A blocking invocation of an action that fails.
'use strict'
require('./client').run(ow =>
  ow.actions.invoke({ name: 'broken', blocking: true, params: { message: 'no luck' } }))
