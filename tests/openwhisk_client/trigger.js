// A trigger fired with parameters.
'use strict'
require('./client').run(ow => ow.triggers.invoke({ name: 'greet', params: { name: 'Ada' } }))
