-- payments_reading_written: the body of the deferred constraint trigger on ledger_hold
-- (declared on payments.ReadingHold), run at commit for each reading hold captured: its
-- reading was written in the same transaction. No reading is paid for and never written.
IF NOT EXISTS (SELECT 1 FROM payments_reading r WHERE r.hold_id = NEW.id) THEN
    RAISE EXCEPTION 'hold %: a reading was paid for and never written', NEW.id
        USING ERRCODE = 'integrity_constraint_violation';
END IF;
RETURN NULL;
