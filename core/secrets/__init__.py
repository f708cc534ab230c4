"""Secret sources: env (.env), aws_secrets_manager, gcp_secret_manager."""
