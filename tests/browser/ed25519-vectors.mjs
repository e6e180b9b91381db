// Checks src/http/ui/ed25519.js (the Control UI's pure-JS SHA-256, SHA-512 and Ed25519) under
// Node against RFC 8032's test vectors and against Node's own crypto for random seeds and
// messages of every length around the SHA-2 block boundaries. Run by
// tests/it/control_ui.rs::the_pure_javascript_ed25519_signs_as_rfc_8032_says; prints
// "ed25519-vectors: ok N" when everything matched, exits 1 otherwise.
import { createRequire } from "node:module";
import crypto from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const js = require(path.join(here, "../../src/http/ui/ed25519.js"));
const hex = (b) => Buffer.from(b).toString("hex");
const bytes = (h) => new Uint8Array(Buffer.from(h, "hex"));
let checked = 0;
const fail = (what) => { process.stderr.write(`ed25519-vectors: FAILED ${what}\n`); process.exit(1); };

const rfc = [
  ["9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"],
  ["4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"],
  ["c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"],
];
for (const [seed, pub, msg, sig] of rfc) {
  if (hex(js.publicKey(bytes(seed))) !== pub) fail(`RFC 8032 public key for ${seed}`);
  if (hex(js.sign(bytes(seed), bytes(msg))) !== sig) fail(`RFC 8032 signature for ${seed}`);
  checked++;
}

// Node's own Ed25519 from the same seed (PKCS#8 around the raw seed).
const nodeKey = (seed) => crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seed)]),
  format: "der",
  type: "pkcs8",
});
for (let n = 0; n <= 300; n++) {
  const msg = crypto.randomBytes(n);
  if (hex(js.sha256(msg)) !== crypto.createHash("sha256").update(msg).digest("hex")) fail(`sha256 of ${n} bytes`);
  if (hex(js.sha512(msg)) !== crypto.createHash("sha512").update(msg).digest("hex")) fail(`sha512 of ${n} bytes`);
  if (n % 10 === 0) {
    const seed = new Uint8Array(crypto.randomBytes(32));
    const key = nodeKey(seed);
    const pub = crypto.createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32);
    if (hex(js.publicKey(seed)) !== hex(pub)) fail(`public key of seed ${hex(seed)}`);
    const sig = js.sign(seed, msg);
    if (hex(sig) !== hex(crypto.sign(null, msg, key))) fail(`signature of ${n} bytes with seed ${hex(seed)}`);
    if (!crypto.verify(null, msg, crypto.createPublicKey(key), sig)) fail(`Node does not verify ${n} bytes`);
  }
  checked++;
}
let threw = false;
try { js.sign(new Uint8Array(31), new Uint8Array(0)); } catch (_) { threw = true; }
if (!threw) fail("a 31-byte seed was accepted");
process.stdout.write(`ed25519-vectors: ok ${checked}\n`);
