# `terraform test` of an AWS root (terraform/envs/<env>/aws) against a mocked provider: nothing
# is called, no credentials are read. tests/deploy/test_terraform_aws.py copies this file into
# each root's tests/ folder and runs it offline; "apply" here applies to the mocks only, so the
# values the provider computes (ARNs, URLs) are known to the assertions.

mock_provider "aws" {
  # A mock makes up every computed value, but the provider still checks arguments: what feeds
  # them gets a value of the right shape (a policy is JSON, an ARN an ARN, an account 12 digits).
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
    }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      execution_arn = "arn:aws:execute-api:us-east-1:123456789012:mock"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mock"
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:us-east-1:123456789012:key/mock"
    }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn = "arn:aws:lambda:us-east-1:123456789012:function:mock"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mock"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:mock"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:mock"
    }
  }
}

run "defaults" {
  command = apply

  assert {
    condition     = output.aws_function_name == var.aws_name && output.aws_table_name == var.aws_name
    error_message = "The function and the table are not named after aws_name."
  }

  assert {
    condition     = output.aws_function_url != null
    error_message = "The function URL is on by default, but the root outputs none."
  }
}

run "without_function_url" {
  command = apply

  variables {
    aws_function_url_enabled = false
  }

  assert {
    condition     = output.aws_function_url == null
    error_message = "aws_function_url_enabled = false still gives the function a URL."
  }
}
