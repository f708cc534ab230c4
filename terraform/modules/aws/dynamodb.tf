# The store's single table. Keys, attributes, GSIs and the TTL attribute come from
# dynamodb_table.json, generated from core/store/dynamodb_schema.py (TABLE_DEFINITION and
# TTL_ATTRIBUTE) in the DynamoDB/CloudFormation shape; the deploy wiring test fails when it is
# not current. Do not edit it by hand: regenerate it.

locals {
  table_definition = jsondecode(file("${path.module}/dynamodb_table.json"))

  table_hash_key  = one([for key in local.table_definition.KeySchema : key.AttributeName if key.KeyType == "HASH"])
  table_range_key = one([for key in local.table_definition.KeySchema : key.AttributeName if key.KeyType == "RANGE"])
}

resource "aws_dynamodb_table" "this" {
  name         = var.name
  billing_mode = local.table_definition.BillingMode
  hash_key     = local.table_hash_key
  range_key    = local.table_range_key

  deletion_protection_enabled = var.table_deletion_protection

  dynamic "attribute" {
    for_each = local.table_definition.AttributeDefinitions
    content {
      name = attribute.value.AttributeName
      type = attribute.value.AttributeType
    }
  }

  dynamic "global_secondary_index" {
    for_each = lookup(local.table_definition, "GlobalSecondaryIndexes", [])
    content {
      name               = global_secondary_index.value.IndexName
      hash_key           = one([for key in global_secondary_index.value.KeySchema : key.AttributeName if key.KeyType == "HASH"])
      range_key          = one([for key in global_secondary_index.value.KeySchema : key.AttributeName if key.KeyType == "RANGE"])
      projection_type    = global_secondary_index.value.Projection.ProjectionType
      non_key_attributes = lookup(global_secondary_index.value.Projection, "NonKeyAttributes", null)
    }
  }

  ttl {
    attribute_name = local.table_definition.TimeToLiveSpecification.AttributeName
    enabled        = local.table_definition.TimeToLiveSpecification.Enabled
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  tags = var.tags
}
