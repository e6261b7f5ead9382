-- The types forgotten by the up migration are not restored (they were the
-- uploader's claims, never trusted).
DROP TABLE throttle_hits;
DROP TABLE quota_reservations;
