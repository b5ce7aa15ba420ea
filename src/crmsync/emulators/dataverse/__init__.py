"""An emulator of the Dataverse Web API (Dynamics 365), over real HTTP(S)."""
