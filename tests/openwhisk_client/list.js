// The actions, a page of them, and one.
'use strict'
require('./client').run(async ow => ({
  all: await ow.actions.list(),
  page: await ow.actions.list({ limit: 1, skip: 1 }),
  one: await ow.actions.get({ name: 'greet' })
}))
