# Firestore: the database (or an existing one), and the composite indexes, TTL policies and
# single-field index exemptions of fnproxy's collections.
#
# firestore_schema.json is GENERATED from core/store/firestore_schema.py (terraform_data(prefix)
# with the placeholder prefix "{prefix}"); never edit it by hand. Collection names in it read
# "{prefix}_<kind>": the placeholder is replaced by var.firestore_collection_prefix here, so one
# file serves any prefix. A query the store adds that needs a new index fails the wiring test
# until the file is regenerated.

locals {
  firestore_schema = jsondecode(file("${path.module}/firestore_schema.json"))
  schema_prefix    = "{prefix}"

  # The schema's entries with their real collection names.
  schema_indexes = [
    for index in local.firestore_schema.indexes :
    merge(index, { collection = replace(index.collection, local.schema_prefix, var.firestore_collection_prefix) })
  ]
  schema_fields = [
    for field in local.firestore_schema.fields :
    merge(field, { collection = replace(field.collection, local.schema_prefix, var.firestore_collection_prefix) })
  ]

  # Keyed like "fnproxy_executions/function:ASCENDING,execution_id:DESCENDING".
  firestore_indexes = {
    for index in local.schema_indexes :
    "${index.collection}/${join(",", [for f in index.fields : "${f.field_path}:${f.order}"])}" => index
  }

  # Keyed like "fnproxy_executions/expire_at".
  firestore_fields = {
    for field in local.schema_fields : "${field.collection}/${field.field}" => field
  }
}

resource "google_firestore_database" "this" {
  count = var.create_firestore_database ? 1 : 0

  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # A protected database is left in place by `terraform destroy`; an unprotected one is deleted.
  deletion_policy = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

resource "google_firestore_index" "this" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = local.firestore_database
  collection  = each.value.collection
  query_scope = each.value.query_scope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}

# Every listed field is kept out of the automatic single-field indexes (an empty index_config);
# the `ttl` ones (expire_at) also carry the collection's TTL policy. Firestore deletes expired
# documents up to a day late: fnproxy's reads check expires_at themselves.
resource "google_firestore_field" "this" {
  for_each = local.firestore_fields

  project    = var.project_id
  database   = local.firestore_database
  collection = each.value.collection
  field      = each.value.field

  index_config {}

  dynamic "ttl_config" {
    for_each = each.value.ttl ? [true] : []
    content {}
  }
}
