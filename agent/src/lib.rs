//! The agent: the session loop, prompt assembly, tool dispatch, permissions and sessions.
