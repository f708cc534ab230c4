"""Hello over /invoke: greets the name in the Invoke platform's request (query, else JSON body)."""


def handler(event, context):
    request = event or {}
    name = (request.get("query") or {}).get("name") or (request.get("body") or {}).get("name")
    return {"message": f"Hello, {name or 'world'}!"}
