# The signing key (MODULE_SECRET_KEY) lives in this secret; the function gets its ARN
# (MODULE_SECRET_KEY_SECRET_ARN), never the key. AWSCURRENT signs tokens, AWSPREVIOUS still
# verifies them after a rotation (docs/secrets.md).
#
# The module creates the secret but NOT its value: a value made by Terraform (e.g. with
# random_password) would sit in plain text in the Terraform state, and every rotation would
# have to go through Terraform. The operator puts the first value, and each rotation, with:
#
#   aws secretsmanager put-secret-value --secret-id <secret_arn output> \
#     --secret-string "$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
#
# (at least 64 characters). Until then the function refuses to start (ConfigError naming
# MODULE_SECRET_KEY_SECRET_ARN).

resource "aws_secretsmanager_secret" "module_key" {
  name                    = "${var.name}/module-secret-key"
  description             = "fnproxy ${var.name}: MODULE_SECRET_KEY, the key signing and verifying access tokens (>= 64 characters)"
  kms_key_id              = local.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}
