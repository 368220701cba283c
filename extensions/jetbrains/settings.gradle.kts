// For real users and CI with internet access: builds the plugin with the
// IntelliJ Platform Gradle Plugin 2.x. It cannot run on the project's own
// machines (no Gradle Plugin Portal, Maven Central or IntelliJ SDK there);
// `make jetbrains` builds and tests core without it. See README.md.
rootProject.name = "mirrord-jetbrains"
include("core", "plugin")
