// Verifies a Sigstore bundle with @sigstore/verify against a PEM public key
// and checks what its in-toto statement is about:
//   node sigstore-verify.cjs BUNDLE.json KEY.pub (--subject SHA256HEX | --payload-sha256 SHA256HEX)
// Exit 0 when it verifies and is about that digest; 1 (with the reason) otherwise.
// Run with NODE_PATH=/opt/strata-validators/node/node_modules (.ci/setup installs it).
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, keyPath, mode, want] = process.argv.slice(2);
try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath, 'utf8'));
  const trust = toTrustMaterial(
    { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], ctlogs: [], certificateAuthorities: [], timestampAuthorities: [] },
    () => ({ publicKey, validFor: () => true }),
  );
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
  const payload = Buffer.from(bundle.content.dsseEnvelope.payload);
  if (mode === '--subject') {
    const statement = JSON.parse(payload.toString('utf8'));
    const got = statement.subject[0].digest.sha256;
    if (got !== want) throw new Error(`the statement is about sha256:${got}, not sha256:${want}`);
  } else if (mode === '--payload-sha256') {
    const got = crypto.createHash('sha256').update(payload).digest('hex');
    if (got !== want) throw new Error(`the signed statement is sha256:${got}, not sha256:${want}`);
  }
  console.log('verified');
} catch (e) {
  console.log(`refused: ${e.message}`);
  process.exit(1);
}
