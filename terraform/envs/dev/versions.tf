# Providers of both clouds: terraform init installs both, even for a cloud left disabled.
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29" # invoked_via_function_url (function_url.tf)
    }
    google = {
      source  = "hashicorp/google"
      version = ">= 5.20, < 7.0" # the gcp module needs >= 5.20
    }
  }
}
