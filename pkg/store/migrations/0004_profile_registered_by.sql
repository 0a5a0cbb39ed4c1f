-- How a profile came to exist: the app whose auto_register created it, or
-- NULL when an operator added it (profile add, a seed) or has since adopted
-- it (profile add or activate of an auto-registered email). An app that does
-- not register unknowns itself does not know a profile another app
-- registered: one app's auto_register must not widen whom another admits.
-- Rows from before this migration are NULL: known to every app, as they
-- were.
ALTER TABLE extauthz_profiles ADD COLUMN registered_by text NULL;
