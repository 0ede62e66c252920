"""The connector SPI: what a connector declares (ConnectorSpec, Capabilities) and implements (ports)."""
