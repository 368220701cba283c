package dev.mirrordgo.core.launch

import dev.mirrordgo.core.rpc.RpcException
import dev.mirrordgo.gen.Issue
import java.io.File

/**
 * A config the launch cannot use, with the place of the first problem so
 * the notification's "Open config" action can put the caret on it (line
 * and column are 1-based, as the daemon reports them).
 */
class ConfigProblem(message: String, val file: String?, val line: Int, val col: Int, val issues: List<Issue>) : Exception(message) {
    companion object {
        fun of(issues: List<Issue>, fallbackFile: String?, projectDir: String?): ConfigProblem {
            val first = issues.first()
            val file = first.file?.takeIf { it.isNotEmpty() } ?: fallbackFile
            val shown = file?.let { rel(it, projectDir) }
            val where = when {
                shown == null -> ""
                first.line != null && first.line > 0 -> "$shown:${first.line}:${first.col ?: 1}: "
                else -> "$shown: "
            }
            val more = if (issues.size > 1) " (and ${issues.size - 1} more)" else ""
            return ConfigProblem("$where${first.message}$more", file, first.line ?: 1, first.col ?: 1, issues)
        }

        /** A config-category daemon error with issues becomes a ConfigProblem; anything else is returned as is. */
        fun from(e: Throwable, file: String?, projectDir: String?): Throwable {
            if (e is RpcException && e.isConfig) {
                val issues = e.data?.issues.orEmpty()
                if (issues.isNotEmpty()) return of(issues, file, projectDir)
            }
            return e
        }

        private fun rel(path: String, projectDir: String?): String {
            if (projectDir == null) return path
            val p = File(path)
            return runCatching { p.relativeTo(File(projectDir)).path }.getOrNull()?.takeUnless { it.startsWith("..") } ?: path
        }
    }
}
