from . import test_partner
from . import test_api
from . import test_service
from . import test_outbound
from . import test_rating
from . import test_security
from . import test_ui
