-- payments_payment_guard: the body of the BEFORE trigger on payments_payment.
-- A payment starts pending and moves pending -> completed | failed, completed -> refunded;
-- its terms never change; a settled payment changes only by its next legal step; a row
-- is never deleted (a failed attempt stays on record). Completing it, its transfer must
-- credit exactly credit_amount to the member's wallet in credit_currency; refunding it,
-- the refund transfer must take back credit_amount - written_off from that wallet.
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'payment %: payments are never deleted', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
        RAISE EXCEPTION 'a payment starts pending, not %', NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END IF;
IF (NEW.provider, NEW.payment_reference, NEW.member_id, NEW.amount, NEW.currency,
    NEW.credit_currency_id, NEW.credit_amount, NEW.created_at)
   IS DISTINCT FROM
   (OLD.provider, OLD.payment_reference, OLD.member_id, OLD.amount, OLD.currency,
    OLD.credit_currency_id, OLD.credit_amount, OLD.created_at) THEN
    RAISE EXCEPTION 'payment %: its terms are fixed once started', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
IF NEW.status = OLD.status THEN
    IF OLD.status <> 'pending' AND ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
        RAISE EXCEPTION 'payment %: a % payment is settled', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END IF;
IF NOT ((OLD.status = 'pending' AND NEW.status IN ('completed', 'failed'))
        OR (OLD.status = 'completed' AND NEW.status = 'refunded')) THEN
    RAISE EXCEPTION 'payment %: % -> % is not a legal transition', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
IF OLD.status = 'completed'
   AND (NEW.transfer_id, NEW.completed_at) IS DISTINCT FROM (OLD.transfer_id, OLD.completed_at) THEN
    RAISE EXCEPTION 'payment %: its credit is fixed once completed', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
IF NEW.status = 'completed' AND COALESCE((
        SELECT sum(p.amount) FROM ledger_posting p
          JOIN ledger_account a ON a.id = p.account_id
         WHERE p.transfer_id = NEW.transfer_id
           AND a.member_id = NEW.member_id AND a.currency_id = NEW.credit_currency_id), 0)
   <> NEW.credit_amount THEN
    RAISE EXCEPTION 'payment %: transfer % does not credit % to the member''s wallet',
        NEW.id, NEW.transfer_id, NEW.credit_amount
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
IF NEW.status = 'refunded' AND COALESCE((
        SELECT -sum(p.amount) FROM ledger_posting p
          JOIN ledger_account a ON a.id = p.account_id
         WHERE p.transfer_id = NEW.refund_transfer_id
           AND a.member_id = NEW.member_id AND a.currency_id = NEW.credit_currency_id), 0)
   <> NEW.credit_amount - NEW.written_off THEN
    RAISE EXCEPTION 'payment %: the refund does not take back % out of the member''s wallet',
        NEW.id, NEW.credit_amount - NEW.written_off
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
RETURN NEW;
