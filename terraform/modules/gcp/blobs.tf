# The archive (issue 15): one private Cloud Storage bucket holding the payloads, results and logs
# fnproxy keeps out of its records (core/invoke/archive.py), as objects under
# <var.blobs_prefix>/functions/<base64url function key>/<execution id>/<part>.
#
# - Private: uniform bucket-level access (IAM only, no object ACLs) and public access
#   prevention enforced. Readers get a V4 signed GET that lives BLOBS_URL_TTL_S (5 minutes by
#   default), signed through IAM signBlob as the function's own service account (no key file).
# - Encrypted by Google (Cloud Storage encrypts every object at rest).
# - Versioning off, and soft delete off: an object is written once under its execution's key,
#   and deleting a function (DELETE /v1/functions/{name}) or the lifecycle rule below must really
#   remove the content, not keep it as a non-current or soft-deleted copy.
# - Retention: objects under the prefix are deleted after var.archive_retention_days, which must
#   be longer than var.history_retention_days: a record must never outlive the objects it refers
#   to, and Firestore's TTL deletes an expired record only some time after it expires.

resource "google_storage_bucket" "blobs" {
  # checkov:skip=CKV_GCP_62:Object access is in Cloud Audit Logs (data access logs when enabled); a second bucket for usage logs would hold every reader's request again.
  # checkov:skip=CKV_GCP_78:Versioning is off on purpose: an object is written once, and deleting a function or the lifecycle rule must remove the content, not keep it as a non-current version.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-blobs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  versioning {
    enabled = false
  }

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    condition {
      age            = var.archive_retention_days
      matches_prefix = [local.blobs_key_prefix]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  lifecycle {
    precondition {
      condition     = var.archive_retention_days > var.history_retention_days
      error_message = "archive_retention_days must be longer than history_retention_days: a record would otherwise outlive the objects it refers to."
    }
  }

  depends_on = [google_project_service.enabled]
}

locals {
  # Every name of fnproxy's objects starts with it (core/blobs/gcs.py).
  blobs_key_prefix = "${var.blobs_prefix}/"
}

# Both runtime accounts (the API's, which the Cloud Run service shares, and the worker's) read,
# write and delete objects under the prefix, and list only there. roles/storage.objectUser holds
# exactly the object permissions fnproxy uses (get, list, create, delete; update and the
# multipart ones besides) and nothing on the bucket itself or on IAM: objectCreator alone
# could not replace an object (that needs storage.objects.delete), and objectAdmin adds object
# IAM. The condition limits it to the prefix: an object's resource.name for the object
# permissions, the `objectListPrefix` API attribute for a list (whose resource is the bucket).
resource "google_storage_bucket_iam_member" "blobs_user" {
  for_each = local.runtime_members

  bucket = google_storage_bucket.blobs.name
  role   = "roles/storage.objectUser"
  member = each.value

  condition {
    title       = "fnproxy-archive-prefix-only"
    description = "Only objects under fnproxy's prefix, and lists of that prefix"
    expression = join(" || ", [
      "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.blobs.name}/objects/${local.blobs_key_prefix}\")",
      "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"${local.blobs_key_prefix}\")",
    ])
  }
}

# V4 signed URLs without a key file: each runtime account signs through the IAM Credentials
# API's signBlob as itself, which needs iam.serviceAccounts.signBlob on itself only.
resource "google_service_account_iam_member" "blobs_self_signer" {
  for_each = {
    api    = google_service_account.api
    worker = google_service_account.worker
  }

  service_account_id = each.value.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.runtime_members[each.key]
}
