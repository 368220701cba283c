package dev.mirrordgo.plugin

import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.VirtualFile
import com.jetbrains.jsonSchema.extension.JsonSchemaFileProvider
import com.jetbrains.jsonSchema.extension.JsonSchemaProviderFactory
import com.jetbrains.jsonSchema.extension.SchemaType
import com.jetbrains.jsonSchema.impl.JsonSchemaVersion
import dev.mirrordgo.core.config.ConfigFiles

/**
 * Attaches the generated schema (schema/mirrord-schema.json, bundled in
 * the jar, so it works offline, unlike upstream's remote URL) to
 * `*mirrord.json` and the JSON files of `.mirrord`. Which files match is
 * core's [ConfigFiles.schemaApplies].
 */
class MirrordSchemaProviderFactory : JsonSchemaProviderFactory {
    override fun getProviders(project: Project): List<JsonSchemaFileProvider> = listOf(Provider)

    private object Provider : JsonSchemaFileProvider {
        override fun isAvailable(file: VirtualFile): Boolean = ConfigFiles.schemaApplies(file.path)
        override fun getName(): String = ConfigFiles.SCHEMA_NAME
        override fun getSchemaFile(): VirtualFile? = JsonSchemaProviderFactory.getResourceFile(MirrordSchemaProviderFactory::class.java, ConfigFiles.SCHEMA_RESOURCE)
        override fun getSchemaType(): SchemaType = SchemaType.embeddedSchema
        // The generated schema is draft 2020-12 ($defs); the default, draft 4, would not read its definitions.
        override fun getSchemaVersion(): JsonSchemaVersion = JsonSchemaVersion.SCHEMA_2020_12
    }
}
