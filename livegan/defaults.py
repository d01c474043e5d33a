"""What several stages share and nothing lighter defines: the network that plays when none is named
(the show, every command, the studio).  Importing it costs nothing (no torch), so a command's
--help can show it."""
DEFAULT_NETWORK = "builtin:tiny"
