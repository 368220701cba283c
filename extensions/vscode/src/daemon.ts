// The connection to the per-user mirrord daemon. The extension runs
// `mirrord daemon connect`, which starts the daemon when none runs and
// bridges stdio to its socket, and speaks JSON-RPC (LSP framing) over the
// child's stdio: the binary owns socket paths, locking and autostart, so
// the extension cannot disagree with it.
import { spawn, ChildProcess } from "child_process";
import {
  createMessageConnection,
  MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-jsonrpc/node";
import { InitializeResult, Methods, Notifications, PROTOCOL_VERSION, UpdatePolicy } from "./gen/daemonApi";

export class Daemon {
  private constructor(
    private readonly child: ChildProcess,
    readonly conn: MessageConnection,
    readonly info: InitializeResult,
    readonly binary: string,
  ) {}

  /**
   * Starts the bridge and runs the initialize handshake, which also hands
   * the daemon this window's update policy (it then checks for a newer
   * binary in the background and sends update/available).
   */
  static async connect(binary: string, clientVersion: string, update?: UpdatePolicy): Promise<Daemon> {
    const child = spawn(binary, ["daemon", "connect"], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += String(d)));
    const spawned = new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (e) => reject(new Error(`cannot run ${binary}: ${e.message}; set mirrord.binaryPath`)));
    });
    await spawned;
    const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    conn.listen();
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`mirrord daemon connect exited (${code}): ${stderr.trim() || "no output"}`))),
    );
    const init = (await Promise.race([
      conn.sendRequest(Methods.initialize, {
        processId: process.pid,
        clientInfo: { name: "mirrord-vscode", version: clientVersion },
        protocolVersion: PROTOCOL_VERSION,
        initializationOptions: update ? { update } : undefined,
      }),
      exited,
    ])) as InitializeResult;
    if (init.protocolVersion !== PROTOCOL_VERSION) {
      child.kill();
      throw new Error(
        `the mirrord binary ${binary} speaks daemon protocol ${init.protocolVersion}, this extension ${PROTOCOL_VERSION}: update the extension or the binary`,
      );
    }
    conn.sendNotification(Notifications.initialized, {});
    return new Daemon(child, conn, init, binary);
  }

  request<R>(method: string, params: unknown): Promise<R> {
    return this.conn.sendRequest(method, params) as Promise<R>;
  }

  /** Closes the connection and ends the bridge; resolves once it has exited. */
  dispose(): Promise<void> {
    this.conn.dispose();
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve();
    }
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill();
    return exited;
  }
}
