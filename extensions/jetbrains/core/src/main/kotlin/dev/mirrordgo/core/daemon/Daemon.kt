package dev.mirrordgo.core.daemon

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
import dev.mirrordgo.gen.TargetsListParams
import dev.mirrordgo.gen.TargetsListResult

/**
 * The daemon calls the plugin's logic makes. An interface so that the
 * launch logic is tested against a fake and, separately, against the real
 * daemon through [DaemonClient]; it stays as small as the logic needs.
 */
interface Daemon {
    fun targets(p: TargetsListParams): TargetsListResult
    fun namespaces(p: NamespacesListParams): NamespacesListResult
    fun discover(p: ConfigDiscoverParams): ConfigDiscoverResult
    fun resolve(p: ConfigResolveParams): ConfigResolveResult
    fun validate(p: ConfigValidateParams): ConfigValidateResult
    /** Starts a session; [onProgress] gets the `$/progress` messages of this start only. */
    fun startSession(p: SessionsStartParams, onProgress: (String) -> Unit): SessionsStartResult
    fun stopSession(id: String)
    fun sessions(): SessionsListResult
}
