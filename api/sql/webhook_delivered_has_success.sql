-- The body of the deferred constraint trigger api_webhookdelivery_delivered_has_success
-- (api.models.WebhookDelivery): at commit, a delivery marked delivered has a 2xx attempt
-- (api.actions.record_attempt writes both in one transaction).
IF EXISTS (SELECT 1 FROM api_webhookattempt WHERE delivery_id = NEW.id AND ok) THEN
    RETURN NULL;
END IF;
IF NOT EXISTS (SELECT 1 FROM api_webhookdelivery WHERE id = NEW.id AND status = 'delivered') THEN
    RETURN NULL;  -- changed again (or deleted) later in the same transaction
END IF;
RAISE EXCEPTION 'webhook delivery % is delivered without a successful attempt', NEW.id
    USING ERRCODE = 'integrity_constraint_violation';
