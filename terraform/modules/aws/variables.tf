# Inputs of the fnproxy AWS module. Names of the settings they feed (core/config.py) are given
# in each description; anything not listed here goes through `extra_environment`.

# --- naming ----------------------------------------------------------------------------------

variable "name" {
  type        = string
  description = "Base name of every resource (Lambda function, table, topic, queues, secret, log groups), e.g. \"fnproxy-dev\"."
  default     = "fnproxy"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,39}$", var.name))
    error_message = "name must start with a letter, hold only letters, digits and '-', and be at most 40 characters (it prefixes longer names)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource that takes tags."
  default     = {}
}

# --- the Lambda --------------------------------------------------------------------------------

variable "lambda_zip_path" {
  type        = string
  description = "Path of the Lambda artifact written by `make build` (build/aws/fnproxy-lambda.zip), relative to the root module or absolute."
}

variable "lambda_memory_mb" {
  type        = number
  description = "Memory of the Lambda function in MB (CPU grows with it)."
  default     = 512

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_s" {
  type        = number
  description = "Timeout of the Lambda function in seconds: how long a sync call on the function URL may run (API Gateway cuts its requests at 30 s whatever this is), and an async run from the work queue. Above FUNCTION_TIMEOUT and LAMBDA_TIMEOUT (the /lambda routes' deadline, 300 s unless set in extra_environment), or Lambda ends a run before fnproxy times it out and records it. The work queue's visibility timeout is six times this value."
  default     = 900

  validation {
    condition     = var.lambda_timeout_s >= 1 && var.lambda_timeout_s <= 900
    error_message = "lambda_timeout_s must be between 1 and 900."
  }
}

variable "lambda_reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions of the function: caps its concurrency (and so its load on the table and on the functions it invokes). -1 leaves it unreserved, what a new account allows: its quota is 10 concurrent executions and AWS keeps 10 unreserved; reserve after a Service Quotas increase."
  default     = -1

  validation {
    condition     = var.lambda_reserved_concurrency >= -1
    error_message = "lambda_reserved_concurrency must be -1 (unreserved) or a count >= 0."
  }
}

variable "tracing_mode" {
  type        = string
  description = "X-Ray tracing mode of the function: \"Active\" (sampled and traced; FNPROXY_TRACING=true turns on fnproxy's tracer) or \"PassThrough\" (FNPROXY_TRACING=false)."
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be \"Active\" or \"PassThrough\"."
  }
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the function: DEBUG, INFO, WARNING, ERROR or CRITICAL."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of fnproxy's EMF metrics (POWERTOOLS_METRICS_NAMESPACE)."
  default     = "fnproxy"
}

variable "extra_environment" {
  type        = map(string)
  description = "More environment variables of the function: any setting of core/config.py the module does not set itself (OPENWHISK_*, GCP_* for invoking Cloud Functions, SECRETS_CACHE_TTL_S, ...), or a reference NAME_SECRET_ARN=<arn> (list that secret in extra_secret_arns). The variables the module sets win over these."
  default     = {}
}

variable "extra_secret_arns" {
  type        = list(string)
  description = "ARNs of further Secrets Manager secrets the function may read (secretsmanager:GetSecretValue), for setting references in extra_environment (e.g. OPENWHISK_AUTH_KEY_SECRET_ARN)."
  default     = []
}

# --- fnproxy settings ------------------------------------------------------------------------

variable "function_timeout_s" {
  type        = number
  description = "FUNCTION_TIMEOUT: default timeout in seconds of one invoked function. Keep it below lambda_timeout_s, and below 30 s for sync invocations through API Gateway."
  default     = 25

  validation {
    condition     = var.function_timeout_s > 0 && var.function_timeout_s <= 900
    error_message = "function_timeout_s must be greater than 0 and at most 900."
  }
}

variable "max_batch_size" {
  type        = number
  description = "MAX_BATCH_SIZE: most invocations in one batch request (also the size of the AWS client pools)."
  default     = 100
}

variable "max_retries" {
  type        = number
  description = "MAX_RETRIES: retries of a failed invocation (transient failures only)."
  default     = 3
}

variable "retry_delay_s" {
  type        = number
  description = "RETRY_DELAY: first delay between retries, in seconds (exponential backoff)."
  default     = 1
}

variable "jwt_issuer" {
  type        = string
  description = "JWT_ISSUER: the `iss` of the tokens fnproxy signs and accepts."
  default     = "fnproxy"
}

variable "jwt_audience" {
  type        = string
  description = "JWT_AUDIENCE: the `aud` of the tokens fnproxy signs and accepts."
  default     = "fnproxy"
}

variable "token_ttl_s" {
  type        = number
  description = "TOKEN_TTL_S: lifetime of the access tokens, in seconds. Rotate the signing key no more often than this."
  default     = 3600
}

variable "history_retention_days" {
  type        = number
  description = "HISTORY_RETENTION_DAYS: days an execution record is kept before DynamoDB's TTL deletes it."
  default     = 30
}

variable "egress_allow" {
  type        = list(string)
  description = "EGRESS_ALLOW: CIDRs and host globs callers' URLs may reach although the egress policy refuses private, loopback, link-local and metadata destinations (docs/security.md). Empty: public destinations only."
  default     = []
}

variable "max_concurrent_requests" {
  type        = number
  description = "MAX_CONCURRENT_REQUESTS: invocations in flight in one Lambda instance at most; past it, 429 too_many_requests with Retry-After. An instance serves one API request at a time, so only a batch's items (up to max_batch_size at once) can reach it."
  default     = 1000

  validation {
    condition     = var.max_concurrent_requests >= 1
    error_message = "max_concurrent_requests must be at least 1."
  }
}

# --- API Gateway and the function URL ------------------------------------------------------------

variable "function_url_enabled" {
  type        = bool
  description = "Give the function a Lambda function URL (auth type NONE: fnproxy checks its own JWTs) for sync calls longer than API Gateway's 30 s, up to lambda_timeout_s (output function_url)."
  default     = true
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "Burst limit (requests) of the HTTP API's $default stage."
  default     = 100
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "Steady-state rate limit (requests per second) of the HTTP API's $default stage."
  default     = 50
}

# --- DynamoDB ------------------------------------------------------------------------------------

variable "table_deletion_protection" {
  type        = bool
  description = "Turn on DynamoDB deletion protection for the table (on in prod)."
  default     = true
}

# --- async work (SQS) ----------------------------------------------------------------------------

variable "async_max_receive_count" {
  type        = number
  description = "Deliveries of one work-queue message before SQS moves it to the dead-letter queue: the redrive policy's maxReceiveCount AND the function's ASYNC_MAX_RECEIVE_COUNT (the worker must know the last delivery), from this one variable."
  default     = 3

  validation {
    condition     = var.async_max_receive_count >= 1 && var.async_max_receive_count <= 1000
    error_message = "async_max_receive_count must be between 1 and 1000."
  }
}

variable "async_batch_size" {
  type        = number
  description = "Most SQS messages handed to the worker in one Lambda invocation."
  default     = 10

  validation {
    condition     = var.async_batch_size >= 1 && var.async_batch_size <= 10000
    error_message = "async_batch_size must be between 1 and 10000."
  }
}

variable "async_batching_window_s" {
  type        = number
  description = "Seconds the event source mapping may wait to fill a batch (0: none; required > 0 when async_batch_size > 10)."
  default     = 0
}

variable "async_max_concurrency" {
  type        = number
  description = "Most concurrent worker invocations the SQS event source mapping starts (2-1000), or null for no limit but the function's own."
  default     = null
}

variable "async_message_retention_s" {
  type        = number
  description = "Seconds a message stays in the work queue (default 4 days)."
  default     = 345600
}

variable "dlq_message_retention_s" {
  type        = number
  description = "Seconds a message stays in the dead-letter queues (default and maximum: 14 days)."
  default     = 1209600
}

# --- invocation targets ------------------------------------------------------------------------

variable "allow_function_listing" {
  type        = bool
  description = "Grant lambda:ListFunctions (on \"*\": the action takes no resource) so GET /v1/providers/aws_lambda/functions lists the region's functions, every one of the account, not only invocable_function_arns. false: that route answers 403 forbidden."
  default     = false
}

variable "invocable_function_arns" {
  type        = list(string)
  description = "Lambda functions fnproxy may invoke and describe: function ARNs, or name-prefix patterns like arn:aws:lambda:eu-west-1:123456789012:function:billing-*. Each also grants its versions and aliases (ARN:*). Empty: no Lambda target can be invoked."

  validation {
    condition = alltrue([
      for arn in var.invocable_function_arns :
      can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+[*]?(:[A-Za-z0-9_$-]+)?$", arn))
    ])
    error_message = "Each invocable_function_arns entry must be a Lambda function ARN (optionally ending in a name prefix followed by '*', or a qualifier); '*' alone or in the account/region is refused."
  }
}

# --- the archive (blobs.tf) ----------------------------------------------------------------------

variable "blobs_prefix" {
  type        = string
  description = "BLOBS_PREFIX: the key prefix of fnproxy's objects in the archive bucket (no leading or trailing '/'). The function's role, the lifecycle rule and the keys all use it."
  default     = "fnproxy"

  validation {
    condition     = can(regex("^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$", var.blobs_prefix))
    error_message = "blobs_prefix must be one or more '/'-separated segments of letters, digits and . _ ~ - (e.g. fnproxy), without a leading or trailing '/'."
  }
}

variable "archive_retention_days" {
  type        = number
  description = "Days the archive bucket's lifecycle rule keeps an object. Longer than history_retention_days (checked): a record must never outlive the objects it refers to, and DynamoDB's TTL deletes expired records only within a few days."
  default     = 90

  validation {
    condition     = var.archive_retention_days >= 1
    error_message = "archive_retention_days must be at least 1."
  }
}

variable "archive_all_parts" {
  type        = bool
  description = "true: every payload, result and log goes to the archive (BLOBS_RETENTION_DAYS = archive_retention_days), so an execution's content is kept archive_retention_days while its record goes after history_retention_days, at one S3 PUT per part. false: only parts above BLOBS_INLINE_BYTES (64 KiB) go there (BLOBS_RETENTION_DAYS = 0)."
  default     = false
}

variable "blobs_force_destroy" {
  type        = bool
  description = "Let a destroy delete the archive bucket with the objects in it (dev); false: a destroy fails while it holds objects."
  default     = false
}

# --- encryption, secret, logs --------------------------------------------------------------------

variable "kms_key_arn" {
  type        = string
  description = "ARN of an existing customer-managed KMS key for the table, topics, queues, secret, log groups, archive bucket and environment variables; null makes the module create one (with rotation). An existing key's policy must let CloudWatch Logs (logs.<region>.amazonaws.com) use it, and CloudWatch (cloudwatch.amazonaws.com: kms:Decrypt, kms:GenerateDataKey) when the module creates the alarm topic."
  default     = null
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period (7-30 days) before the module's KMS key is deleted after a destroy."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days Secrets Manager keeps the signing-key secret after a destroy (7-30, or 0 to delete it at once, e.g. in dev)."
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the Lambda and API access log groups, in days (one of CloudWatch's allowed values)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

# --- alarms --------------------------------------------------------------------------------------

variable "alarm_topic_arn" {
  type        = string
  description = "Existing SNS topic notified when an alarm fires and recovers; null: the module creates <name>-alarms, encrypted with its key (output alarm_topic_arn)."
  default     = null
}

variable "alarm_period_s" {
  type        = number
  description = "Period of every alarm's metric, in seconds."
  default     = 300
}

variable "alarm_lambda_errors_threshold" {
  type        = number
  description = "Lambda Errors (sum over one period) at or above which the errors alarm fires."
  default     = 1
}

variable "alarm_api_5xx_threshold" {
  type        = number
  description = "API Gateway 5xx responses (sum over one period) at or above which the API alarm fires."
  default     = 1
}
