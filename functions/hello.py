"""Hello: greets event["name"] (default "world")."""


def handler(event, context):
    name = (event or {}).get("name", "world")
    return {"message": f"Hello, {name}!"}
