"""The SDK's resource clients, one module per noun; `slipway.Client` ties them together."""
