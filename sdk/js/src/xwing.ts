// The X-Wing entry point: the main entry point with the X-Wing KEM
// (draft-connolly-cfrg-xwing-kem: ML-KEM-768 + X25519, HPKE KEM 0x647a)
// registered, so that createClient({ postQuantum: true }) can use it. A
// separate file because ML-KEM is pure JavaScript and more than doubles
// the download. ML-KEM-768 and SHA3-256 come from the mlkem package,
// X25519 from WebCrypto; the tests check the result against
// @hpke/hybridkem-x-wing and the Go gateway opens it.

import { MlKem768, sha3_256 } from "mlkem";
import { concat, u8 } from "./bytes.js";
import { KEM_XWING, registerKem } from "./ohttp.js";
import { x25519Pair } from "./hpke.js";

// XWingLabel (draft §5.3): the bytes of "\.//^\".
const label = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
const mlkem = new MlKem768();

registerKem({
  id: KEM_XWING,
  publicKeySize: 1216,
  //	Encapsulate(pk):
  //	  pk_M = pk[0:1184]; pk_X = pk[1184:1216]
  //	  ek_X = random(32); ct_X = X25519(ek_X, 9); ss_X = X25519(ek_X, pk_X)
  //	  (ss_M, ct_M) = ML-KEM-768.Encaps(pk_M)
  //	  ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)
  //	  return (ss, ct_M || ct_X)
  // A test's fixed ephemeral is eseed = ML-KEM's 32-byte seed || ek_X.
  async encap(pk, eph) {
    const pkM = pk.subarray(0, 1184);
    const pkX = pk.subarray(1184, 1216);
    const { dh: ssX, pub: ctX } = await x25519Pair(pkX, eph ? eph.sk.subarray(32, 64) : undefined);
    const [ctM, ssM] = await mlkem.encap(u8(pkM), eph ? u8(eph.sk.subarray(0, 32)) : undefined);
    return { sharedSecret: sha3_256(concat(ssM, ssX, ctX, pkX, label)), enc: concat(ctM, ctX) };
  },
});


export * from "./index.js";
