# The JWT signing key, MODULE_SECRET_KEY. Terraform creates the secret and its IAM only: no value
# ever goes through terraform state. The functions get its id in MODULE_SECRET_KEY_SECRET and
# read it at cold start; the newest ENABLED version signs, the enabled one before it still
# verifies (docs/secrets.md). Before the first request, add the first version (>= 64 chars):
#
#   python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")' |
#     gcloud secrets versions add SECRET_ID --project PROJECT --data-file=-
#
# Rotate the same way (the new version signs, the previous one verifies until its tokens expire:
# TOKEN_TTL_S); disable the old version (`gcloud secrets versions disable N --secret SECRET_ID`)
# once its tokens have expired. A new version is seen within SECRETS_CACHE_TTL_S.

resource "google_secret_manager_secret" "module_key" {
  project   = var.project_id
  secret_id = local.secret_id
  labels    = local.labels

  replication {
    auto {
      dynamic "customer_managed_encryption" {
        for_each = var.secret_kms_key_name == null ? [] : [var.secret_kms_key_name]
        content {
          kms_key_name = customer_managed_encryption.value
        }
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
