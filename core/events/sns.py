"""SNS: the event bus. Each outcome is one Publish whose message is the CloudEvent JSON
(structured mode) and whose message attributes are the event's filter attributes (type,
function, provider, success), so a subscription's filter policy can pick what it gets."""

from __future__ import annotations

import orjson

from core.aws_clients import PooledClient
from core.events.base import CloudEvent
from core.events.sqs import string_attributes


class SnsEventBus:
    def __init__(
        self, topic_arn: str, region: str, endpoint_url: str | None = None, pool_size: int = 32
    ) -> None:
        self.topic_arn = topic_arn
        # One attempt per publish: the Recorder retries (and logs) a failing publish itself.
        self._sns = PooledClient("sns", region, endpoint_url, pool_size, max_attempts=1)

    async def publish(self, event: CloudEvent) -> None:
        await self._sns.call(
            "publish",
            TopicArn=self.topic_arn,
            Message=orjson.dumps(event.to_json_dict()).decode(),
            MessageAttributes=string_attributes(event.attributes),
        )

    async def ping(self) -> None:
        await self._sns.call("get_topic_attributes", TopicArn=self.topic_arn)

    async def close(self) -> None:
        await self._sns.close()
