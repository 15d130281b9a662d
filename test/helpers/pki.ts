// A throwaway PKI for TLS tests, made with openssl in a temp directory: a CA,
// a serving certificate for 127.0.0.1/localhost, and client certificates
// (CN = user, O = groups) signed by the CA.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  /** Makes a serving certificate for 127.0.0.1 and localhost; returns its paths. */
  server(name: string): { cert: string; key: string };
  /** Makes a client certificate for `user` in `groups`; returns its paths. */
  client(user: string, groups: string[]): { cert: string; key: string };
  read(path: string): Buffer;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Creates a CA (EC P-256, one day) in `dir`. `name` keeps CAs of one test apart. */
export function makePki(dir: string, name = "setpoint-test-ca"): Pki {
  const caKey = join(dir, `${name}.key`);
  const caCert = join(dir, `${name}.crt`);
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    caCert,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
  ]);
  let serial = 0;
  const sign = (base: string, subject: string, ext: string) => {
    const key = join(dir, `${base}.key`);
    const csr = join(dir, `${base}.csr`);
    const cert = join(dir, `${base}.crt`);
    const extFile = join(dir, `${base}.ext`);
    execFileSync("sh", ["-c", `printf '%s\\n' "$1" > "$2"`, "sh", ext, extFile]);
    openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", subject]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      caCert,
      "-CAkey",
      caKey,
      "-set_serial",
      String(Date.now() * 100 + ++serial),
      "-days",
      "1",
      "-out",
      cert,
      "-extfile",
      extFile,
    ]);
    return { cert, key };
  };
  return {
    dir,
    caCert,
    caKey,
    server: (base) => sign(base, "/CN=setpoint", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
    client: (user, groups) => sign(`client-${user}`, `/CN=${user}${groups.map((g) => `/O=${g}`).join("")}`, "extendedKeyUsage=clientAuth"),
    read: (path) => readFileSync(path),
  };
}
