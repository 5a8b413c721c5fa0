# pg_dump by the owner of the database and of its tables, who is not a
# superuser: it must succeed and contain everything a superuser's dump
# does, and no dump (whoever makes it) may contain an HS256 secret.  A
# restore (by a superuser) equals the source; its HS256 keys need their
# secret again (tombstone.add_key) before they sign or verify tokens.
. "$(dirname "$0")/lib.sh"

owner=tools_dump_owner
pw=${PGPASSWORD:-owner-password}
tt_sql postgres "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$owner') THEN
        CREATE ROLE $owner LOGIN PASSWORD '$pw';
    END IF; END \$\$" >/dev/null
as_owner() { PGUSER=$owner PGPASSWORD=$pw "$@"; }

src="tools_${TT_NAME}_src"
"$PGBIN/dropdb" --if-exists "$src" 2>/dev/null
"$PGBIN/createdb" -O "$owner" "$src" && TT_DBS+=("$src")
secret='an owner test secret of 32 bytes or more'
tt_sql "$src" "CREATE EXTENSION pg_tombstone" \
    "SELECT tombstone.add_key('hs', 'HS256', convert_to('$secret', 'UTF8'))" \
    "SELECT tombstone.add_key('ed', 'EdDSA', '\\xdec6f0d58185e4435761f37ea10117ac984a9b02d455e2b0c523092bcaf159bf')" >/dev/null
as_owner tt_sql "$src" \
    "CREATE TABLE sites (id text PRIMARY KEY, name text)" \
    "CREATE TABLE pages (id int PRIMARY KEY, site text NOT NULL REFERENCES sites ON DELETE CASCADE, body text)" \
    "INSERT INTO sites VALUES ('a', 'A'), ('b', 'B')" \
    "INSERT INTO pages SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 'page ' || g FROM generate_series(1, 10) g" \
    "SELECT tombstone.protect_tenants('sites', 'id')" \
    "SELECT tombstone.protect('pages', 'site')" \
    "UPDATE pages SET body = body || '!' WHERE id < 4" \
    "DELETE FROM pages WHERE id = 2" >/dev/null || { echo "Bail out! set-up as owner"; exit 1; }
tt_sql "$src" "BEGIN" \
    "SELECT tombstone.authorize(tombstone.sign('{\"op\": \"delete_tenant\", \"tenants\": [\"b\"], \"jti\": \"owner-b\"}', 'hs'))" \
    "DELETE FROM sites WHERE id = 'b'" "COMMIT" >/dev/null
tt_fingerprint "$src" > "$TT_TMP/src.fp"
hex=$(printf '%s' "$secret" | od -An -tx1 | tr -d ' \n')

out=$(as_owner "$PGBIN/pg_dump" -Fc -f "$TT_TMP/owner.dump" "$src" 2>&1)
tt_result $? "the owner, not a superuser, dumps the database"
[ -z "$out" ] || diag "$out"
"$PGBIN/pg_dump" -Fc -f "$TT_TMP/super.dump" "$src"
"$PGBIN/pg_restore" -f "$TT_TMP/owner.sql" "$TT_TMP/owner.dump"
"$PGBIN/pg_restore" -f "$TT_TMP/super.sql" "$TT_TMP/super.dump"
is "$(grep -c "$hex" "$TT_TMP/owner.sql" "$TT_TMP/super.sql" | sed 's/.*://' | paste -sd' ')" "0 0" \
   "neither the owner's nor a superuser's dump contains the HS256 secret"
is "$(grep -c '^COPY tombstone\.' "$TT_TMP/owner.sql")" "$(grep -c '^COPY tombstone\.' "$TT_TMP/super.sql")" \
   "the owner's dump has every table of the extension a superuser's has"
is "$(as_owner tt_sqlstate "$src" "SELECT * FROM tombstone.key_secrets")" 42501 \
   "the owner cannot read the secrets"

dst=$(tt_newdb copy)
out=$("$PGBIN/pg_restore" -d "$dst" "$TT_TMP/owner.dump" 2>&1)
tt_result $? "a superuser restores the owner's dump"
[ -z "$out" ] || diag "$out"
tt_fingerprint "$dst" > "$TT_TMP/dst.fp"
same_file "$TT_TMP/src.fp" "$TT_TMP/dst.fp" "the copy equals the source (keys without their secrets)"
sign="SELECT tombstone.sign('{\"op\": \"delete\", \"tenants\": [\"a\"]}', 'hs') IS NOT NULL"
is "$(tt_sqlstate "$dst" "$sign")" TB022 "an HS256 key restored without its secret signs nothing (TB022)"
ok "add_key() gives the restored key its secret again" \
   tt_sql "$dst" "SELECT tombstone.add_key('hs', 'HS256', convert_to('$secret', 'UTF8'))"
is "$(tt_sql "$dst" "$sign")" t "... and it signs again"
is "$(tt_sql "$dst" "BEGIN" \
        "SELECT tombstone.authorize(tombstone.sign('{\"op\": \"delete\", \"tables\": [\"pages\"], \"tenants\": [\"a\"], \"jti\": \"after-restore\"}', 'hs')) ->> 'jti'" \
        "COMMIT")" "after-restore" "... and tokens it signed are authorised"
is "$(tt_sqlstate "$dst" "SELECT tombstone.add_key('hs', 'HS256', convert_to('$secret', 'UTF8'))")" 42710 \
   "a key that has its secret cannot be added again"

done_testing
