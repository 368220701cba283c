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
    this.starting = this.start().catch((e) => {
      this.starting = undefined;
      const msg = e instanceof Error ? e.message : String(e);
      this.log.appendLine(`config language server: ${msg}`);
      void vscode.window.showWarningMessage(`mirrord: no completion or diagnostics for TOML/YAML configs: ${msg}`);
    });
  }

  private async start(): Promise<void> {
    const command = await this.binary();
    // No transport: plain stdio (TransportKind.stdio would append --stdio).
    const server: ServerOptions = { command, args: ["daemon", "connect"] };
    const options: LanguageClientOptions = {
      documentSelector: LSP_CONFIG_PATTERNS.map((pattern) => ({ scheme: "file", pattern })),
      outputChannel: this.log,
      initializationOptions: {},
    };
    this.client = new LanguageClient("mirrord", "mirrord config", server, options);
    await this.client.start();
    this.log.appendLine(`config language server: started (${command} daemon connect)`);
  }

  /** Stops the client (a changed binary starts it again on the next open). */
  async restart(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.starting = undefined;
    await c?.stop().catch(() => undefined);
    vscode.workspace.textDocuments.forEach((d) => this.maybeStart(d));
  }

  dispose(): void {
    void this.client?.stop().catch(() => undefined);
  }
}
