// The config language features for TOML and YAML configs: a language
// client whose server is the daemon (over `mirrord daemon connect`, which
// starts it when none runs). It gives completion, hover and diagnostics
// from the same schema the daemon validates launches with. JSON configs get
// VS Code's own JSON language features through jsonValidation instead.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { isLspConfig, LSP_CONFIG_PATTERNS } from "./configs";

/**
 * Starts the language client the first time a TOML or YAML config is open,
 * so that a window without one starts no daemon for it.
 */
export class ConfigLanguage implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  /** Bumped by restart and stop: a start of an older generation disposes what it made. */
  private generation = 0;

  constructor(
    private readonly binary: () => Promise<string>,
    private readonly log: vscode.OutputChannel,
  ) {}

  watch(ctx: vscode.ExtensionContext): void {
    ctx.subscriptions.push(vscode.workspace.onDidOpenTextDocument((d) => this.maybeStart(d)), this);
    vscode.workspace.textDocuments.forEach((d) => this.maybeStart(d));
  }

  private maybeStart(doc: vscode.TextDocument): void {
    if (this.starting || doc.uri.scheme !== "file" || !isLspConfig(doc.uri.fsPath)) {
      return;
    }
    const gen = this.generation;
    this.starting = this.start(gen).catch((e) => {
      if (gen !== this.generation) {
        return; // a restart or stop came meanwhile: this start is moot
      }
      this.starting = undefined;
      const msg = e instanceof Error ? e.message : String(e);
      this.log.appendLine(`config language server: ${msg}`);
      void vscode.window.showWarningMessage(`mirrord: no completion or diagnostics for TOML/YAML configs: ${msg}`);
    });
  }

  private async start(gen: number): Promise<void> {
    const command = await this.binary();
    if (gen !== this.generation) {
      return;
    }
    // No transport: plain stdio (TransportKind.stdio would append --stdio).
    const server: ServerOptions = { command, args: ["daemon", "connect"] };
    const options: LanguageClientOptions = {
      documentSelector: LSP_CONFIG_PATTERNS.map((pattern) => ({ scheme: "file", pattern })),
      outputChannel: this.log,
      initializationOptions: {},
    };
    const client = new LanguageClient("mirrord", "mirrord config", server, options);
    await client.start();
    if (gen !== this.generation) {
      // Started for an old binary (or after stop): its `daemon connect` must not leak.
      await client.stop().catch(() => undefined);
      return;
    }
    this.client = client;
    this.log.appendLine(`config language server: started (${command} daemon connect)`);
  }

  /** Stops the client and any start in flight; nothing starts again until restart. */
  async stop(): Promise<void> {
    this.generation++;
    const inFlight = this.starting; // never rejects; a stale start stops its client
    this.starting = Promise.resolve(); // blocks maybeStart
    const c = this.client;
    this.client = undefined;
    await Promise.all([c?.stop().catch(() => undefined), inFlight]);
  }

  /** Stops the client (a changed binary starts it again on the next open). */
  async restart(): Promise<void> {
    const stopped = this.stop();
    // A start in flight is of the old generation now: it stops what it makes.
    this.starting = undefined;
    await stopped;
    vscode.workspace.textDocuments.forEach((d) => this.maybeStart(d));
  }

  dispose(): void {
    void this.stop();
  }
}
