package dev.mirrordgo.core

import dev.mirrordgo.core.daemon.Daemon
import dev.mirrordgo.gen.ConfigDiscoverParams
import dev.mirrordgo.gen.ConfigDiscoverResult
import dev.mirrordgo.gen.ConfigResolveParams
import dev.mirrordgo.gen.ConfigResolveResult
import dev.mirrordgo.gen.ConfigValidateParams
import dev.mirrordgo.gen.ConfigValidateResult
import dev.mirrordgo.gen.NamespacesListParams
import dev.mirrordgo.gen.NamespacesListResult
import dev.mirrordgo.gen.SessionsListResult
import dev.mirrordgo.gen.SessionsStartParams
import dev.mirrordgo.gen.SessionsStartResult
import dev.mirrordgo.gen.Target
import dev.mirrordgo.gen.TargetsListParams
import dev.mirrordgo.gen.TargetsListResult

/** A daemon that answers from fields and records what it was asked; unexpected calls fail the test. */
class FakeDaemon : Daemon {
    var discovered = ""
    var resolve: (ConfigResolveParams) -> ConfigResolveResult = { ConfigResolveResult() }
    var targetList = TargetsListResult(listOf(Target("deployment/web", "deployment", true)), "apps", listOf("apps"), "ctx")
    var started = SessionsStartResult("s1", mapOf("LD_PRELOAD" to "/r/mirrord-bootstrap.so"), listOf("UNSET_ME"), "deployment/web")
    val calls = mutableListOf<String>()
    var lastStart: SessionsStartParams? = null
    var lastResolve: ConfigResolveParams? = null

    override fun targets(p: TargetsListParams): TargetsListResult { calls += "targets/list"; return targetList }
    override fun namespaces(p: NamespacesListParams): NamespacesListResult = error("not used")
    override fun discover(p: ConfigDiscoverParams): ConfigDiscoverResult { calls += "config/discover"; return ConfigDiscoverResult(discovered, "", listOfNotNull(discovered.ifEmpty { null })) }
    override fun resolve(p: ConfigResolveParams): ConfigResolveResult { calls += "config/resolve"; lastResolve = p; return resolve.invoke(p) }
    override fun validate(p: ConfigValidateParams): ConfigValidateResult = error("not used")
    override fun startSession(p: SessionsStartParams, onProgress: (String) -> Unit): SessionsStartResult {
        calls += "sessions/start"
        lastStart = p
        onProgress("creating agent")
        return started
    }
    override fun stopSession(id: String) { calls += "sessions/stop $id" }
    override fun sessions(): SessionsListResult = SessionsListResult()
}
