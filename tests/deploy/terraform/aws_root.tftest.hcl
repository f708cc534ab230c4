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

  assert {
    condition     = output.aws_alarm_topic_arn != null
    error_message = "The root outputs no alarm topic."
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


# The module itself (its resources are visible to the assertions only when it is the run's root).

run "alarms_notify_the_module_topic" {
  command = apply

  module {
    source = "../../../modules/aws"
  }

  variables {
    name                    = "fnproxy-test"
    lambda_zip_path         = "../../../../build/aws/fnproxy-lambda.zip"
    invocable_function_arns = []
  }

  # Every topic's mocked ARN is the same: this one tells the alarm topic apart.
  override_resource {
    target = aws_sns_topic.alarms
    values = {
      arn = "arn:aws:sns:us-east-1:123456789012:fnproxy-test-alarms"
    }
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 1 && aws_sns_topic.alarms[0].kms_master_key_id == aws_kms_key.this[0].arn
    error_message = "Without alarm_topic_arn the module must create one alarm topic, encrypted with its key."
  }

  assert {
    condition = length(aws_cloudwatch_metric_alarm.this) > 0 && alltrue([
      for alarm in aws_cloudwatch_metric_alarm.this :
      alarm.alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && alarm.ok_actions == alarm.alarm_actions
    ])
    error_message = "Every alarm must notify the module's alarm topic, on alarm and on recovery."
  }

  assert {
    condition     = output.alarm_topic_arn == aws_sns_topic.alarms[0].arn
    error_message = "Output alarm_topic_arn is not the module's alarm topic."
  }
}

run "alarms_notify_the_operators_topic" {
  command = apply

  module {
    source = "../../../modules/aws"
  }

  variables {
    name                    = "fnproxy-test"
    lambda_zip_path         = "../../../../build/aws/fnproxy-lambda.zip"
    invocable_function_arns = []
    alarm_topic_arn         = "arn:aws:sns:us-east-1:123456789012:ops-alerts"
  }

  assert {
    condition = length(aws_sns_topic.alarms) == 0 && alltrue([
      for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_actions == toset([var.alarm_topic_arn])
    ])
    error_message = "With alarm_topic_arn the alarms must notify it, and the module create no topic."
  }
}
