-- POST a signed WhatsApp delivery (WHATSAPP_APP_SECRET=bench-secret).
wrk.method = "POST"
wrk.body = [[{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Load Test"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTdBNjU2QjlFQjk5NzM0NkE3OQA=","timestamp":"1700000000","text":{"body":"hello from the drill"},"type":"text"}]},"field":"messages"}]}]}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Hub-Signature-256"] = "sha256=b71539a07e5e0efca44e51dacd1843f25d63336ff40749165fdeb8cbad5b9568"
