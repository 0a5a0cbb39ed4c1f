-- Sessions may belong to profiles that live in an app's own database (a
-- profile source of kind sql), whose ids are any text and are not rows of
-- extauthz_profiles. The foreign key goes; revoking a built-in profile's
-- sessions is explicit (profile block/deactivate/delete and session revoke).
ALTER TABLE extauthz_sessions DROP CONSTRAINT IF EXISTS extauthz_sessions_profile_id_fkey;
ALTER TABLE extauthz_sessions ALTER COLUMN profile_id TYPE text USING profile_id::text;
