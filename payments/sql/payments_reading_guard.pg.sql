-- payments_reading_guard: the body of the BEFORE trigger on payments_reading.
-- A reading is written once and never changed or deleted, and only for a reading hold
-- (sink:readings) of the same member that is captured into the reading's transfer: no
-- reading exists without its payment.
IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION 'reading %: readings are never changed or deleted', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
IF NOT EXISTS (
    SELECT 1 FROM ledger_hold h JOIN ledger_account a ON a.id = h.account_id
     WHERE h.id = NEW.hold_id AND h.sink = 'sink:readings' AND h.status = 'captured'
       AND h.transfer_id = NEW.transfer_id AND a.member_id = NEW.member_id) THEN
    RAISE EXCEPTION 'a reading needs its hold % captured into transfer %, for member %',
        NEW.hold_id, NEW.transfer_id, NEW.member_id
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
RETURN NEW;
