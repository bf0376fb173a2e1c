"""The API's routes, one router per resource: HTTP in, a service call, HTTP out."""
