-- POST a Pub/Sub push envelope (GMAIL_PUBSUB_VERIFY_TOKEN=bench-token, in the URL).
wrk.method = "POST"
wrk.body = [[{"message":{"data":"eyJlbWFpbEFkZHJlc3MiOiAiZHJpbGxAZXhhbXBsZS5jb20iLCAiaGlzdG9yeUlkIjogOTg3NjU0M30=","messageId":"1234567890","publishTime":"2026-11-27T00:00:00Z"},"subscription":"projects/relhost/subscriptions/gmail-push"}]]
wrk.headers["Content-Type"] = "application/json"
