"""The notification side: delivering what the engine put in the outbox.

The engine side (alerting/engine.py, lifecycle.py, runner.py, outbox.py) decides what is
owed to whom and writes it to the `outbox` table in its own transaction; it never imports
this package. This package sends it, one module a role:

- `sender`: the `Sender` protocol a notifier implements (deliver one outbox row or raise:
  done or retry later) and `DeliveryError`;
- `worker`: the delivery worker, one per target, and its chain of steps: pick the due row
  -> send -> mark delivered, or back off (retry with jitter), or give up past the
  horizon; retry and backoff are written once, there;
- `webhook`: the one HTTP poster (signed, Idempotency-Key) and the webhook `Sender`; the
  daily watch report posts through it too;
- `log`: the `Sender` of `kind: log` targets and the line logged for each escalation
  step (ids only, never a name);
- `notice`: an outbox row as a `Notice` (its reference and CAP category);
- `formats`: the bodies: versioned JSON, CAP 1.2 (its wording from the catalog's `cap`
  namespace) and the signature;
- `receiver`: the reference webhook receiver (`carewatch webhook-receiver`).

The SMS or voice gateway is one more module here, `alerting/notify/gateway.py`, a
`sender.Sender`: it turns the row into the gateway's request (its body template), calls the
gateway and raises `DeliveryError` when the gateway did not take it; the worker retries.
The composition root (carewatch/delivery.py, `delivery_workers`) picks the sender by the
target's kind and gives it its credentials, resolved in carewatch/secrets.py like the HMAC
keys.

Secrets are never read here: the composition root resolves them from the environment
(carewatch/secrets.py) and passes bytes in.
"""
