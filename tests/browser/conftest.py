"""The browser tests' fixtures live in web_sdk_stack.py, next to the helpers they share."""

from web_sdk_stack import alloy_js, browser, context, playwright_api, stack  # noqa: F401 (fixtures)
