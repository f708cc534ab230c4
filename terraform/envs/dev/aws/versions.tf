# The AWS provider only: init, validate and plan need nothing of Google.
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.30" # the version .terraform.lock.hcl locks; the module needs >= 6.28
    }
  }
}
