-- 0017: a segment name is stored in one Unicode form, NFC (SPEC §1: "Café" typed composed or
-- decomposed is one name). Every writer stores NFC from now on; this converts the names stored
-- before, except one whose NFC form another segment of the store already has: that pair was
-- two segments and stays two (its NFD name can still be opened from the list, where it is a link).
DO $$
BEGIN
    IF current_setting('server_encoding') = 'UTF8' THEN
        UPDATE segments s SET name = normalize(s.name, NFC)
        WHERE s.name IS NOT NFC NORMALIZED
          AND NOT EXISTS (
              SELECT 1 FROM segments o
              WHERE o.store_id = s.store_id AND o.id <> s.id AND lower(o.name) = lower(normalize(s.name, NFC))
          );
    END IF;
END
$$;
